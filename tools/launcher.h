/* What the launcher's files (tools/capguard.c, tools/doctor.c) share. */
#ifndef CG_LAUNCHER_H
#define CG_LAUNCHER_H
#include <stddef.h>
#define LIB_NAME "libcapguard.so"
int cg_find_lib(char *out, char *looked, size_t lsz); /* the library run would preload */
int cg_policy_valid(const char *p);                   /* an accepted CAPGUARD value */
int cg_in_list(const char *v, const char *list);      /* one of the words of "a|b|c" */
int cmd_doctor(int argc, char **argv);
#endif
