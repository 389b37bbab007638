// Header-only: see include/cposix.h.
