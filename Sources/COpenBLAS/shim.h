#ifndef PREFIXKIT_COPENBLAS_SHIM_H
#define PREFIXKIT_COPENBLAS_SHIM_H
// CBLAS from OpenBLAS (Debian's libopenblas-dev; pkg-config "openblas"). The prototypes import
// as they are; this header only gives the module one place to include them from.
#include <cblas.h>
#endif
