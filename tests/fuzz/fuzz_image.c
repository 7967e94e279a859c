/* fuzz_image.c -- libFuzzer harness for the image sniffing and metadata
 * path: img_sniff (what the upload handler runs on a part's first bytes)
 * and img_decode, which reads the header, refuses bombs, parses EXIF with
 * libexif and decodes with libvips.
 *
 * Limits are small (1 Mpx, 64-px working copy) so that one input costs
 * milliseconds; the code paths are the same as with the defaults. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vision/image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    scry_err err = {0};
    img_global_init(*argc > 0 ? (*argv)[0] : "fuzz_image", &err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *fmt = img_sniff(data, size);
    if (!fmt) return 0;     /* the server stores nothing that is not sniffed as an image */
    img_limits lim = {.max_pixels = 1000000, .work_size = 64};
    img_decoded d;
    scry_err err = {0};
    if (img_decode(data, size, &lim, &d, &err) == SCRY_OK) {
        char *colors = img_colors_json(&d.work, 4);
        free(colors);
        (void)img_phash(&d.work);
        img_decoded_free(&d);
    }
    return 0;
}
