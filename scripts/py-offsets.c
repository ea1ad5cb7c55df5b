/* Prints one row of shim/pyframes.def for the CPython whose headers it is compiled against
 * (scripts/py-offsets.sh builds it once per installed CPython with internal headers). The
 * shim reads a thread's Python frames without the GIL through these offsets, so they must
 * come from the real headers, never be typed by hand. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include "internal/pycore_code.h"
#include "internal/pycore_frame.h"

int main(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    size_t ts = offsetof(PyThreadState, current_frame), cf = (size_t)-1;
    size_t code = offsetof(_PyInterpreterFrame, f_executable), instr = offsetof(_PyInterpreterFrame, instr_ptr);
#else
    size_t ts = offsetof(PyThreadState, cframe), cf = offsetof(_PyCFrame, current_frame);
    size_t code = offsetof(_PyInterpreterFrame, f_code), instr = offsetof(_PyInterpreterFrame, prev_instr);
#endif
    printf("PYFRAMES(0x%x, %zu, %d, %zu, %zu, %zu, %zu, %zu, %zu, %zu, %zu, %zu, %zu)\n", PY_VERSION_HEX >> 16, ts,
           cf == (size_t)-1 ? -1 : (int)cf, code, offsetof(_PyInterpreterFrame, previous), instr,
           offsetof(_PyInterpreterFrame, owner), offsetof(PyCodeObject, co_filename), offsetof(PyCodeObject, co_name),
           offsetof(PyCodeObject, co_code_adaptive), sizeof(PyASCIIObject), offsetof(PyASCIIObject, length),
           offsetof(PyASCIIObject, state));
    return 0;
}
