/* dlsym override for x86-64: ask cg_dlsym_redirect for a wrapper; if there is none, TAIL-JUMP
 * to the real dlsym so that glibc, which resolves RTLD_NEXT from its caller's return address,
 * still sees the original caller (a C wrapper would make RTLD_NEXT mean "after capguard"). */
    .text
    .globl dlsym
    .type dlsym, @function
dlsym:
    .cfi_startproc
    push %rdi
    .cfi_adjust_cfa_offset 8
    push %rsi
    .cfi_adjust_cfa_offset 8
    sub $8, %rsp
    .cfi_adjust_cfa_offset 8
    call cg_dlsym_redirect
    add $8, %rsp
    .cfi_adjust_cfa_offset -8
    pop %rsi
    .cfi_adjust_cfa_offset -8
    pop %rdi
    .cfi_adjust_cfa_offset -8
    test %rax, %rax
    jnz 1f
    jmp *cg_real_dlsym(%rip)
1:
    ret
    .cfi_endproc
    .size dlsym, .-dlsym
    .section .note.GNU-stack,"",@progbits
