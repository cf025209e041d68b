/* SPDX-License-Identifier: Apache-2.0 */
/* Topic names of the v1 contract: builders and parsers. */
#include "p4t.h"
