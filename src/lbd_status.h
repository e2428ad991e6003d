/*
 * lbd_status.h - the status page's files, /status.json and /metrics, as a
 * worker serves them on the admin port (lbd_status.c, doc/STATUS.md).
 */
#ifndef LBD_STATUS_H
#define LBD_STATUS_H

struct lbd_worker;
struct evhttp_request;

/*
 * Read every regular file of admin.html into memory, once, at worker
 * start: serving them never touches the disk.  A directory that cannot be
 * read is logged and leaves the page out (/ answers 404).  0, or -1 when
 * out of memory.
 */
int lbd_status_files_load(struct lbd_worker *w);

void lbd_status_files_free(struct lbd_worker *w);

/*
 * Answer req when it is a GET or HEAD of /status.json, /metrics, / or one
 * of the page's files: returns 1 (answered), else 0 (not ours).
 */
int lbd_status_serve(struct lbd_worker *w, struct evhttp_request *req);

#endif /* LBD_STATUS_H */
