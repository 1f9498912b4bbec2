// SwiftPM names an executable's entry point <Module>_main (and points `main` at it); a fuzzer built
// with -parse-as-library has none. These hand control to libFuzzer's driver instead.
#include <stddef.h>
#include <stdint.h>
int FuzzJSONEnvelope_main(int argc, char **argv);
int FuzzStreamMessage_main(int argc, char **argv);
