# vision/image: EXIF is parsed from the raw blob with libexif (libvips already
# links it; we use its typed entries rather than vips' display strings).
PKGS += libexif
