LDLIBS += -lwordnet
