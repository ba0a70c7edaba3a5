/* screen_stay.h — screen 2, one ICU stay: the 17 channels over hours since admission, the
 * admission's diagnoses with ICD titles, and the 25 phenotype labels grouped acute / mixed /
 * chronic.
 *
 * The screen itself is `screen_stay` (declared in app.h); this header exposes the pieces tests
 * and the radiograph screen share.
 */
#ifndef SCREEN_STAY_H
#define SCREEN_STAY_H

#include <stddef.h>
#include <stdint.h>

#include "store/catalog.h"

/* The channels in the order the screen lists them: vital signs, then labs and body size, then
 * the categorical scales (GCS total and parts, capillary refill). */
extern const int screen_stay_channel_order[CATALOG_N_CHANNELS];

/* "•••••" (UTF-8) or "*****" when ids are masked, else the decimal id; into buf (size n). */
char *screen_stay_id_text(char *buf, size_t n, int64_t id, int mask, int utf8);

#endif
