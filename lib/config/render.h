/* nvbind.toml written back out: the effective configuration with where each value came
 * from (`nvbind config show`), as TOML or JSON, and the commented default file
 * (`nvbind config init`). All three come from the key table, like the schema. */
#pragma once
#include <jansson.h>
#include "config/config.h"

/* The effective configuration as TOML that nvbind would load to the same values; every
 * line ends with a comment saying where the value came from. Caller frees; NULL on OOM. */
char *nvb_config_render_toml(const nvb_config *c);

/* {"source": FILE|null, "values": {"bolt.capsule.isolation_level": {"value": "virtual",
 * "from": "nvbind.toml:4"}, ...}}: every key, flat and dotted; sizes in bytes. */
json_t *nvb_config_to_json(const nvb_config *c);

/* A commented nvbind.toml holding every key at its default. Caller frees; NULL on OOM. */
char *nvb_config_template(void);
