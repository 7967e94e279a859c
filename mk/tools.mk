# Tools built from the library (training-data extraction): build/tools/NAME
# from tools/NAME_WITH_UNDERSCORES.c, part of `make all` so -Werror keeps them
# honest.
TOOLS = $(BUILD)/tools/concept-features $(BUILD)/tools/scry-text $(BUILD)/tools/face-mean
all: $(TOOLS)
$(BUILD)/tools/concept-features: tools/concept_features.c $(BUILD)/libscry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libscry.a $(LDLIBS)
$(BUILD)/tools/scry-text: tools/text_tool.c $(BUILD)/libscry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libscry.a $(LDLIBS)
$(BUILD)/tools/face-mean: tools/face_mean.c $(BUILD)/libscry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libscry.a $(LDLIBS)
