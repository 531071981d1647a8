#include "policy/wsl2_edits.h"
#include "host/wsl2.h"

#include <string.h>

int nvb_wsl2_links(const nvb_host *h, unsigned caps, nvb_strv *links)
{
    if (!h->wsl2 || !(caps & NVB_CAP_UTILITY))
        return 0;
    for (size_t i = 0; i < h->n_comps; i++) {
        const nvb_component *c = &h->comps[i];
        const char *base = strrchr(c->container_path, '/') + 1;
        /* The link goes where a shell looks; the binary keeps its own path, which it was
         * given by WSL (NVIDIA's toolkit links it the same way). */
        if (c->kind == NVB_COMP_BINARY && strcmp(base, "nvidia-smi") == 0 &&
            strcmp(c->container_path, "/usr/bin/nvidia-smi") != 0)
            return nvb_strv_pushf(links, "%s::/usr/bin/nvidia-smi", c->container_path);
    }
    return 0;
}

int nvb_wsl2_gaming_edits(const nvb_host *h, nvb_edits *e)
{
    if (!h || !h->wsl2)
        return 0;
    /* WSLg: its X server is display :0 with its socket in /tmp/.X11-unix; the Wayland
     * compositor's socket is in its runtime folder, PulseAudio's beside it. Writable: clients
     * connect to them. */
    if (h->wslg_x11_dir && (nvb_edits_add_mount(e, h->wslg_x11_dir, NVB_WSLG_X11_DIR, true) < 0 ||
                            nvb_edits_setenv(e, "DISPLAY", ":0") < 0))
        return -1;
    if (h->wslg_runtime_dir && (nvb_edits_add_mount(e, h->wslg_runtime_dir, NVB_WSLG_RUNTIME_DIR, true) < 0 ||
                                nvb_edits_setenv(e, "WAYLAND_DISPLAY", "wayland-0") < 0 ||
                                nvb_edits_setenv(e, "XDG_RUNTIME_DIR", NVB_WSLG_RUNTIME_DIR) < 0))
        return -1;
    if (h->wslg_pulse && (nvb_edits_add_mount(e, h->wslg_pulse, NVB_WSLG_PULSE, true) < 0 ||
                          nvb_edits_setenv(e, "PULSE_SERVER", "unix:" NVB_WSLG_PULSE) < 0))
        return -1;
    /* WSL2 renders OpenGL through Mesa's D3D12 Gallium driver on the Windows GPU driver (no
     * NVIDIA GL library exists in WSL2), on the adapter whose name holds "NVIDIA" (a laptop's
     * integrated GPU is an adapter too); video decoding goes through Mesa's D3D12 VA-API
     * driver. Vulkan needs no variable: the loader finds Mesa's D3D12 Vulkan driver (dozen) in
     * the image and ranks the GPU above the software rasteriser. */
    if (nvb_edits_setenv(e, "GALLIUM_DRIVER", "d3d12") < 0 ||
        nvb_edits_setenv(e, "MESA_D3D12_DEFAULT_ADAPTER_NAME", "NVIDIA") < 0 ||
        nvb_edits_setenv(e, "LIBVA_DRIVER_NAME", "d3d12") < 0)
        return -1;
    return 0;
}
