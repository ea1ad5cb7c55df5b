/* The tables' rows as words and enums (policies.def, scopes.def, classes.def): the accepted
 * values config.def quotes are made from them, so a new row is accepted everywhere at once. */
#ifndef CG_VOCAB_H
#define CG_VOCAB_H
#include "policies.def"
#include "scopes.def"
#include "classes.def"
#define CG_COMMA_ ,
#define CG_BAR_ "|"
#define CG_SEP_ ", "
#define CG_WORD_(name, ...) #name
#define CG_POLICY_WORDS CG_POLICIES(CG_WORD_, CG_BAR_)   /* "auto|observe|..." */
#define CG_SCOPE_WORDS CG_SCOPES(CG_WORD_, CG_BAR_)      /* "capture|always|off" */
#define CG_CLASS_WORDS CG_CLASSES(CG_WORD_, CG_SEP_)     /* "SYNC, ALLOC, ..." */
#define CG_POLICY_LIST_WORDS CG_POLICIES(CG_WORD_, CG_SEP_)
#endif
