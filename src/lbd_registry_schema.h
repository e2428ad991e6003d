/*
 * lbd_registry_schema.h - the registry's SQL schema, as steps from one
 * schema version to the next.
 */
#ifndef LBD_REGISTRY_SCHEMA_H
#define LBD_REGISTRY_SCHEMA_H

#include "lbd_registry.h"

/*
 * lbd_registry_migrations[v] takes a file from schema version v to v + 1
 * (0: an empty file).  A step never edits an earlier one: files in the
 * field were made by it.  lbd_registry_migrate runs the steps a file needs
 * in one transaction and then sets meta.schema_version.
 */
extern const char *const lbd_registry_migrations[LBD_REG_SCHEMA_VERSION];

#endif /* LBD_REGISTRY_SCHEMA_H */
