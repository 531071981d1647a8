/* Edits only a WSL2 host needs (host/wsl2.h): nvidia-smi on PATH, and WSLg for games. */
#pragma once
#include "policy/edits.h"

/* The symlink hook's links for a WSL2 host when caps selects utility: nvidia-smi stays at
 * its driver store path (the path WSL gives it), linked from /usr/bin. */
int nvb_wsl2_links(const nvb_host *h, unsigned caps, nvb_strv *links);

/* The gaming profile on WSL2: WSLg's sockets (X11, Wayland, PulseAudio) and the variables
 * that point programs at them, and Mesa's D3D12 driver for OpenGL and VA-API. docs/wsl2.md
 * names the program that reads each variable. Nothing on other hosts. */
int nvb_wsl2_gaming_edits(const nvb_host *h, nvb_edits *e);
