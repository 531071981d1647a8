/* "AI/ML Training Pipeline" from the Bolt integration guide, in C.
 *
 *   cc aiml_training.c $(pkg-config --cflags --libs nvbind) -o aiml_training
 *   ./aiml_training [HOST_ROOT [CONFIG_FILE]]
 *
 * Without arguments this is a manager with an AI/ML configuration on this machine; HOST_ROOT
 * points the manager at another host root (a fake host in the tests), CONFIG_FILE is an
 * nvbind.toml for the rest (where specs, GPU claims and the audit log go). */
#include <nvbind.h>
#include <stdio.h>

static int fail(const char *what, nvbind_error *err)
{
    fprintf(stderr, "aiml_training: %s: %s\n", what, nvbind_error_message(err));
    int code = nvbind_error_code(err);
    nvbind_error_free(err);
    return code ? code : 1;
}

int main(int argc, char **argv)
{
    nvbind_error *err = NULL;
    /* let config = BoltConfig { aiml: Some(AiMlGpuConfig::default()), ..Default::default() };
     * let gpu_manager = NvbindGpuManager::new(config);
     * The AI/ML part is what makes run_with_bolt_runtime give the capsule the AI/ML settings
     * (the CUDA cache, tensor cores, the memory pool, BOLT_WORKLOAD_TYPE=ai-ml). */
    nvbind_bolt_config config;
    nvbind_bolt_config_default(&config);
    config.has_aiml = true;
    nvbind_bolt_aiml_gpu_config_default(&config.aiml);
    nvbind_manager_options options = {.host_root = argc > 1 ? argv[1] : NULL, .config_path = argc > 2 ? argv[2] : NULL};
    nvbind_gpu_manager *gpu_manager = nvbind_gpu_manager_new(&config, &options, &err);
    if (!gpu_manager)
        return fail("creating the GPU manager", err);

    /* Generate AI/ML optimized CDI */
    nvbind_cdi_spec *aiml_cdi = nvbind_generate_aiml_cdi_spec(gpu_manager, &err);
    if (!aiml_cdi) {
        nvbind_gpu_manager_free(gpu_manager);
        return fail("generating the AI/ML CDI spec", err);
    }
    /* The CDI spec automatically includes: a 4GB CUDA cache, tensor core and mixed precision
     * settings, a 16GB memory pool. */
    printf("AI/ML CDI spec: kind %s, cdiVersion %s, %zu devices\n", nvbind_cdi_spec_kind(aiml_cdi),
           nvbind_cdi_spec_version(aiml_cdi), nvbind_cdi_spec_device_count(aiml_cdi));
    const nvbind_cdi_edits *edits = nvbind_cdi_spec_edits(aiml_cdi);
    for (size_t i = 0; i < nvbind_cdi_edits_env_count(edits); i++)
        printf("  %s\n", nvbind_cdi_edits_env(edits, i));
    nvbind_cdi_spec_free(aiml_cdi);

    /* gpu_manager.run_with_bolt_runtime("pytorch/pytorch:latest", ["python", "train_model.py"], Some("all")) */
    const char *const train[] = {"python", "train_model.py", NULL};
    int status = nvbind_run_with_bolt_runtime(gpu_manager, "pytorch/pytorch:latest", train, "all", &err);
    nvbind_gpu_manager_free(gpu_manager);
    if (status < 0)
        return fail("running pytorch/pytorch:latest through bolt", err);
    printf("bolt exited with status %d\n", status);
    return status;
}
