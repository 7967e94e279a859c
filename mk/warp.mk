# vision/warp: the resampling inner loops (every model input, every
# thumbnail) are plain float loops that GCC vectorises only at -O3.
%/obj/vision/warp.o: CFLAGS += -O3
