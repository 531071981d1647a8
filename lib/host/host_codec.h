/* The host model as a flat record and back, for the host cache (host/host_cache.c): every
 * field of nvb_host, so that a model read back is the model that was written. */
#pragma once
#include "host/host.h"
#include "util/bytes.h"

void nvb_host_encode(nvb_bytes_out *o, const nvb_host *h);
/* The model the record holds; NULL when it is not one the encoder could have written (cut,
 * out of range, trailing bytes) or out of memory. */
nvb_host *nvb_host_decode(nvb_bytes_in *in);
