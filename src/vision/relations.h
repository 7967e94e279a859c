/* relations.h -- what people do with things, read from the geometry of boxes.
 *
 * Captions say "a man riding a horse", "a girl holding an umbrella", "a
 * woman sitting on a bench", "a man in a red shirt". The detector gives
 * boxes; this module turns their arrangement into a few relations, with
 * rules simple enough to state and check:
 *   riding     a person whose box sits over a bicycle, motorcycle, horse
 *              (elephant) -- the person's centre above the mount's, their
 *              bottom inside its box -- or over a board (skateboard,
 *              surfboard, snowboard, skis) under their feet;
 *   holding    a hand-sized object (phone, cup, umbrella, racket, bat,
 *              frisbee, ...) whose box is inside a person's box, in its
 *              upper four fifths, and much smaller than the person;
 *   sitting on a person whose lower half overlaps a chair, couch, bench,
 *              bed or toilet, with their top above the seat's.
 * Each rule was measured against caption mentions on the training photos
 * before it was kept (bench/concepts, docs/concepts.md). "Next to" (two
 * people or animals side by side) was measured too and dropped: captions
 * said it barely more often when it fired than otherwise on the training
 * photos, and less often on the held-out ones.
 *
 * Clothing: the colour of a person's upper body -- a band from 20% to 50%
 * of the box's height, the middle half of its width, skin and what the band
 * shares with its surroundings discounted (img_object_color) -- for people
 * large enough for the band to be clothing. The same band lower down (legs)
 * agreed with captions less often than always saying "blue" did (jeans),
 * so no lower-body colour is claimed (docs/concepts.md).
 *
 * Pure functions over plain arrays: no model, no allocation but the output. */
#ifndef SCRY_RELATIONS_H
#define SCRY_RELATIONS_H

#include "vision/image.h"
#include "vision/objects.h"

typedef enum { REL_RIDING, REL_HOLDING, REL_SITTING_ON, REL_COUNT } rel_kind;

/* "riding", "holding", "sitting on" */
extern const char *const rel_names[REL_COUNT];

typedef struct relation {
    rel_kind kind;
    int subject, object;        /* indices into the detections */
    float score;                /* how clearly the geometry says it, 0..1 */
} relation;

/* Relations among n detections (as objects_detect returns them, best
 * first), at most max written to out; returns the count. A subject takes
 * part in at most one riding and one sitting-on relation (the best). */
int relations_find(const det_box *dets, int n, relation *out, int max);

/* The colour of a person's upper-body clothing (pixels of img; gain as
 * img_white_gain gives), an index into scry_color_names, or -1 when the box
 * is too small to tell (shorter than RELATIONS_MIN_PERSON_PX) or the band
 * is outside the image. */
#define RELATIONS_MIN_PERSON_PX 40
int relations_clothing(const img_rgb *img, const det_box *person, float gain);

#endif
