/* A program outside the rill tree, built against an installed librill. */
#include <rill/rill.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    rill_ring *ring = NULL;
    if (rill_ring_create(64, &ring) != 0)
        return 1;
    char out[6] = {0};
    rill_ring_write(ring, "hello", 5);
    rill_ring_read(ring, out, 5);
    rill_ring_destroy(ring);
    if (strcmp(out, "hello") != 0 ||
        strcmp(rill_version_string(), RILL_VERSION_STRING) != 0)
        return 1;
    printf("consumer ok: librill %s\n", rill_version_string());
    return 0;
}
