#!/usr/bin/env bash
# Builds a signed SWUpdate image for the DDI tests (test_ddi_swupdate.c), as a device
# maker would: sw-description (a rawfile handler writing the payload to TARGET), its CMS
# signature by a test certificate, the payload, in a "newc with CRC" cpio archive.
#   ddi_swu.sh DIR VERSION TARGET
# DIR gets cert.pem/key.pem (made once; swupdate -k cert.pem trusts it),
# image-VERSION.swu and payload-VERSION.bin (the bytes TARGET must end up with).
set -euo pipefail
dir=$1 ver=$2 target=$3
cd "$dir"
if [ ! -f cert.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 \
    -subj "/CN=ota-ddi-test" -addext keyUsage=digitalSignature \
    -addext extendedKeyUsage=emailProtection 2>/dev/null
fi
w=$(mktemp -d "$dir/swu.XXXXXX")
{ echo "PAYLOAD-MARKER $ver"; head -c 20000 /dev/zero | tr '\0' 'x'; echo; } > "$w/payload.bin"
sha=$(sha256sum "$w/payload.bin" | cut -d' ' -f1)
cat > "$w/sw-description" <<DESC
software =
{
	version = "$ver";
	hardware-compatibility: [ "1.0" ];
	files: (
		{
			filename = "payload.bin";
			path = "$target";
			sha256 = "$sha";
		}
	);
}
DESC
openssl cms -sign -in "$w/sw-description" -out "$w/sw-description.sig" -signer cert.pem \
  -inkey key.pem -outform DER -nosmimecap -binary
(cd "$w" && printf 'sw-description\nsw-description.sig\npayload.bin\n' | cpio -o -H crc --quiet) \
  > "image-$ver.swu"
cp "$w/payload.bin" "payload-$ver.bin"
rm -rf "$w"
