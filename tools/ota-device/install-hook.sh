#!/bin/sh
# Example install hook for ota-device (install_hook = sh /path/to/install-hook.sh).
# A real device writes $OTA_IMAGE to its spare partition, switches the boot slot and
# reboots; after the reboot the new firmware's version is in the version file and the
# agent reports it at start. This example "installs" by copying the image next to the
# version file and writing the new version, so the agent reports it at once.
#
# Environment: OTA_IMAGE (verified image), OTA_VERSION (its version), OTA_VERSION_FILE,
# OTA_BATCH_ID, OTA_MD5, OTA_SHA256, OTA_SIZE, OTA_DOWNLOAD_DIR. Exit 0 = installed.
set -eu
dest="$(dirname "$OTA_VERSION_FILE")/installed.bin"
cp "$OTA_IMAGE" "$dest.tmp"
mv "$dest.tmp" "$dest"
printf '%s\n' "$OTA_VERSION" > "$OTA_VERSION_FILE.tmp"
mv "$OTA_VERSION_FILE.tmp" "$OTA_VERSION_FILE"
