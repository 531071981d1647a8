/* "Complete Gaming Container Setup" from the Bolt integration guide, in C.
 *
 *   cc gaming_container.c $(pkg-config --cflags --libs nvbind) -o gaming_container
 *   ./gaming_container [HOST_ROOT [CONFIG_FILE [GAMING_SPEC_FILE]]]
 *
 * HOST_ROOT (default /) is the folder treated as the host's /; CONFIG_FILE an nvbind.toml
 * for the rest (where specs, GPU claims and the audit log go: [cdi] output_dir, [isolation]);
 * GAMING_SPEC_FILE where the generated gaming spec is saved for Bolt's own container
 * creation (the guide's "Method 2"; .yaml for YAML, else JSON; default: not saved). Keep it
 * out of the CDI spec folder: two files declaring the same devices make both unusable. */
#include <nvbind.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, nvbind_error *err)
{
    fprintf(stderr, "gaming_container: %s: %s\n", what, nvbind_error_message(err));
    int code = nvbind_error_code(err);
    nvbind_error_free(err);
    return code ? code : 1;
}

int main(int argc, char **argv)
{
    /* let gaming_config = BoltConfig { gaming: Some(BoltGamingGpuConfig { ... }), ..Default::default() }; */
    nvbind_bolt_config gaming_config;
    nvbind_bolt_config_default(&gaming_config);
    gaming_config.has_gaming = true;
    gaming_config.gaming = (nvbind_bolt_gaming_gpu_config){
        .dlss_enabled = true,
        .rt_cores_enabled = true,
        .performance_profile = NVBIND_PERFORMANCE_ULTRA_LOW_LATENCY,
        .wine_optimizations = true,
        .vrs_enabled = true,
        .power_profile = NVBIND_POWER_MAXIMUM,
    };

    /* let gpu_manager = NvbindGpuManager::new(gaming_config); */
    nvbind_manager_options options = {
        .host_root = argc > 1 ? argv[1] : NULL,
        .config_path = argc > 2 ? argv[2] : NULL,
    };
    nvbind_error *err = NULL;
    nvbind_gpu_manager *gpu_manager = nvbind_gpu_manager_new(&gaming_config, &options, &err);
    if (!gpu_manager)
        return fail("creating the GPU manager", err);

    /* Check system compatibility */
    nvbind_compatibility *compatibility = nvbind_check_bolt_gpu_compatibility(gpu_manager, &err);
    if (!compatibility) {
        nvbind_gpu_manager_free(gpu_manager);
        return fail("checking GPU compatibility", err);
    }
    if (!compatibility->gpus_available) {
        fprintf(stderr, "gaming_container: No GPUs available for gaming\n");
        nvbind_compatibility_free(compatibility);
        nvbind_gpu_manager_free(gpu_manager);
        return 1;
    }
    printf("Found %u GPUs, driver version: %s\n", compatibility->gpu_count, compatibility->driver_version);
    if (compatibility->bolt_optimizations_available)
        printf("Bolt GPU optimizations available!\n");
    nvbind_compatibility_free(compatibility);

    /* Generate gaming-optimized CDI */
    nvbind_cdi_spec *gaming_cdi = nvbind_generate_gaming_cdi_spec(gpu_manager, &err);
    if (!gaming_cdi) {
        nvbind_gpu_manager_free(gpu_manager);
        return fail("generating the gaming CDI spec", err);
    }
    printf("Gaming CDI spec: kind %s, %zu devices\n", nvbind_cdi_spec_kind(gaming_cdi),
           nvbind_cdi_spec_device_count(gaming_cdi));
    const nvbind_cdi_edits *edits = nvbind_cdi_spec_edits(gaming_cdi);
    for (size_t i = 0; i < nvbind_cdi_edits_env_count(edits); i++)
        printf("  %s\n", nvbind_cdi_edits_env(edits, i));
    /* Method 2: pass the CDI spec to Bolt's container creation logic. */
    if (argc > 3) {
        size_t len = strlen(argv[3]);
        nvbind_cdi_format format =
            len > 5 && strcmp(argv[3] + len - 5, ".yaml") == 0 ? NVBIND_CDI_FORMAT_YAML : NVBIND_CDI_FORMAT_JSON;
        if (nvbind_cdi_spec_write(gaming_cdi, argv[3], format, &err) < 0) {
            nvbind_cdi_spec_free(gaming_cdi);
            nvbind_gpu_manager_free(gpu_manager);
            return fail("saving the gaming CDI spec", err);
        }
        printf("Gaming CDI spec saved to %s\n", argv[3]);
    }
    nvbind_cdi_spec_free(gaming_cdi);

    /* Run Steam container with optimal GPU settings */
    const char *const steam_args[] = {"steam", NULL};
    int status = nvbind_run_with_bolt_runtime(gpu_manager, "steam:latest", steam_args, "all", &err);
    nvbind_gpu_manager_free(gpu_manager);
    if (status < 0)
        return fail("running steam:latest through bolt", err);
    printf("bolt exited with status %d\n", status);
    return status;
}
