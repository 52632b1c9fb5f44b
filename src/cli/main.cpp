// drawbridge: the command-line front end. Thin: parse arguments, call the library, print.
#include <cstdio>

int main(int argc, char** argv) {
  std::fprintf(stderr, "drawbridge: no commands yet\n");
  return 1;
}
