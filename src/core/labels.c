/* labels.c -- see labels.h. */
#include "core/labels.h"

#include <string.h>

const char *const scry_coco_labels[SCRY_COCO_COUNT] = {
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
};

const char *const scry_emotion_labels[SCRY_EMOTION_COUNT] = {
    "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
};

const char *const scry_color_names[SCRY_COLOR_COUNT] = {
    "black", "white", "gray", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
};

const char *const scry_person_labels[SCRY_PERSON_COUNT] = {
    "man", "woman", "boy", "girl", "child", "baby", "elderly",
};

const char *const scry_gender_labels[SCRY_GENDER_COUNT] = {"female", "male"};

static int find(const char *const *list, int n, const char *name) {
    if (!name) return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return i;
    return -1;
}

int scry_coco_index(const char *label) { return find(scry_coco_labels, SCRY_COCO_COUNT, label); }
int scry_emotion_index(const char *e) { return find(scry_emotion_labels, SCRY_EMOTION_COUNT, e); }
int scry_color_index(const char *c) { return find(scry_color_names, SCRY_COLOR_COUNT, c); }
int scry_person_index(const char *w) { return find(scry_person_labels, SCRY_PERSON_COUNT, w); }
int scry_gender_index(const char *g) { return find(scry_gender_labels, SCRY_GENDER_COUNT, g); }
