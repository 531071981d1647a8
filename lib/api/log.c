/* nvbind_set_log_callback: the library's decisions, one line each, to the caller. */
#include "api/api.h"
#include "util/log.h"

struct api_sink {
    nvbind_log_callback cb;
    void *user_data;
};

static struct api_sink api_sink;

static void to_caller(int level, const char *line, void *ctx)
{
    const struct api_sink *s = ctx;
    s->cb((nvbind_log_level)level, line, s->user_data);
}

NVBIND_EXPORT void nvbind_set_log_callback(nvbind_log_callback cb, nvbind_log_level max_level, void *user_data)
{
    api_sink = (struct api_sink){cb, user_data};
    nvb_log_set(cb ? to_caller : NULL, &api_sink, (int)max_level);
}
