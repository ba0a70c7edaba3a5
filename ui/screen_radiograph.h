/* screen_radiograph.h — screen 3, the radiographs of a stay's subject: a timeline against the
 * ICU stay, the one the pairing rule picked and why the others were not, the image, and the
 * 14 CheXpert findings.
 *
 * The screen itself is `screen_radiograph` (declared in app.h). The timeline's time-to-column
 * map is exposed for tests.
 */
#ifndef SCREEN_RADIOGRAPH_H
#define SCREEN_RADIOGRAPH_H

#include <stdint.h>

/* Column (0..width-1) of time t on a timeline of width cells covering [tmin, tmax] with the
 * stay [intime, outtime] inside. The stay keeps at least half the width however far away the
 * other radiographs are; each side is linear within itself, so order is always preserved. */
int screen_radiograph_column(int64_t t, int64_t tmin, int64_t tmax, int64_t intime,
                             int64_t outtime, int width);

#endif
