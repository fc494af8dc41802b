/* edgepipe: the executed instruction mix of a Cortex-M (Thumb/Thumb-2, FP, MVE) guest under
 * qemu-system-arm, for the cycle estimate of pipeline/bench/cycles.py. A QEMU TCG plugin, API
 * version 1 (Debian's QEMU 7.2, which does not package the plugin header: the calls used are
 * declared here).
 *
 * Each translated block is decoded once into counts per class (the class list is CLASSES below and
 * cycles.CLASSES, in the same order); each execution of the block adds them. A block ending in a
 * conditional branch is resolved when the next block starts: next pc == fall-through -> not taken.
 * Marks: every call (a block entered after a BL/BLX) of the address given as mark=0xADDR appends a
 * snapshot of the cumulative counts; at exit the snapshots and the totals go to out=PATH:
 *   classes <name> <name> ...
 *   mark <count> <count> ...      (one line per snapshot)
 *   total <count> <count> ...
 * The firmware reads its counter (ep_counter_now) around each inference and each layer, so marking
 * that function splits the mix exactly where the firmware splits its instruction counts. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* X(name): the classes, in output order (cycles.CLASSES must list the same names). Counts of
 * instructions, except *_regs (registers moved by LDM/STM/PUSH/POP/VLDM/VSTM, summed). */
#define CLASS_LIST \
    X(alu) X(it) X(mul) X(mla) X(mul_long) X(mla_long) X(dsp_mac) X(div) \
    X(ld) X(ld_pipe) X(st) X(st_pipe) X(st_imm) X(ld_dual) X(st_dual) \
    X(ldm) X(ldm_regs) X(stm) X(stm_regs) \
    X(b_uncond) X(b_call) X(b_indirect) X(b_pop_pc) X(b_pop_pc_regs) X(b_ld_pc) X(b_table) \
    X(b_cond_taken) X(b_cond_not_taken) X(le_taken) X(le_not_taken) X(loop_start) \
    X(fp_op) X(fp_mac) X(fp_div) X(fp_ld) X(fp_st) X(fp_ldm) X(fp_ldm_regs) \
    X(mve_mem) X(mve_op) X(other)
#define X(n) C_##n,
enum { CLASS_LIST N_CLASSES };
#undef X
#define X(n) #n,
static const char *const class_names[N_CLASSES] = { CLASS_LIST };
#undef X

enum { END_NONE, END_UNCOND, END_COND, END_LE };

typedef struct {
    uint32_t pc;
    uint32_t fall;        /* address after the last instruction */
    uint8_t end;          /* how the block ends: END_* */
    uint8_t call;         /* the last instruction is a BL/BLX: the next block is a callee's entry */
    uint8_t n;            /* entries in cls/cnt */
    uint8_t cls[N_CLASSES];
    uint32_t cnt[N_CLASSES];
} block_t;

static uint64_t counts[N_CLASSES];
static const block_t *prev;
static uint32_t mark_addr;
static int have_mark;
static char out_path[4096];
static uint64_t *snaps;
static size_t n_snaps, cap_snaps;

static int popcount16(uint32_t v) { return __builtin_popcount(v & 0xFFFFu); }

typedef struct {
    int cls;
    int regs_cls;     /* -1 or the class that sums the registers moved */
    int regs;
    int end;          /* END_* if this instruction ends a block as a branch */
    int call;
    int single_ld;    /* a single load: the next single load/store pipelines (M3/M4 TRM 3.3.2) */
} insn_t;

static insn_t mk(int cls) { insn_t r = {cls, -1, 0, END_NONE, 0, 0}; return r; }

/* 16-bit Thumb. `in_it`: inside an IT block (a branch there is conditional). */
static insn_t decode16(uint32_t h, int in_it, int prev_ld) {
    insn_t r = mk(C_alu);
    if ((h & 0xFFC0) == 0x4340) return mk(C_mul);                          /* MULS */
    if ((h & 0xFC00) == 0x4400) {                                            /* special data, BX */
        if ((h & 0x0300) == 0x0300) {                                        /* BX/BLX Rm */
            r = mk(C_b_indirect);
            r.end = in_it ? END_COND : END_UNCOND;
            r.call = (h & 0x80) != 0;
            return r;
        }
        if ((h & 0x0300) != 0x0100 && (((h >> 4) & 8) | (h & 7)) == 15) {   /* ADD/MOV pc */
            r = mk(C_b_indirect);
            r.end = in_it ? END_COND : END_UNCOND;
        }
        return r;
    }
    if ((h & 0xF800) == 0x4800) { r = mk(prev_ld ? C_ld_pipe : C_ld); r.single_ld = 1; return r; }
    if ((h & 0xF000) == 0x5000) {                                            /* register offset */
        int load = ((h >> 9) & 7) >= 3;
        r = mk(load ? (prev_ld ? C_ld_pipe : C_ld) : (prev_ld ? C_st_pipe : C_st));
        r.single_ld = load;
        return r;
    }
    if ((h & 0xE000) == 0x6000 || (h & 0xF000) == 0x8000 || (h & 0xF000) == 0x9000) {
        int load = (h >> 11) & 1;                                            /* immediate offset */
        r = mk(load ? (prev_ld ? C_ld_pipe : C_ld) : C_st_imm);
        r.single_ld = load;
        return r;
    }
    if ((h & 0xF500) == 0xB100) { r = mk(C_alu); r.end = END_COND; r.cls = -1; return r; } /* CBZ */
    if ((h & 0xFE00) == 0xB400) {                                            /* PUSH */
        r = mk(C_stm); r.regs_cls = C_stm_regs; r.regs = popcount16(h & 0x1FF);
        return r;
    }
    if ((h & 0xFE00) == 0xBC00) {                                            /* POP */
        if (h & 0x100) {
            r = mk(C_b_pop_pc); r.regs_cls = C_b_pop_pc_regs; r.regs = popcount16(h & 0x1FF);
            r.end = in_it ? END_COND : END_UNCOND;
        } else {
            r = mk(C_ldm); r.regs_cls = C_ldm_regs; r.regs = popcount16(h & 0xFF);
        }
        return r;
    }
    if ((h & 0xFF00) == 0xBF00) return mk((h & 0xF) ? C_it : C_alu);         /* IT, hints */
    if ((h & 0xFF00) == 0xBE00) return mk(C_other);                          /* BKPT */
    if ((h & 0xF000) == 0xC000) {                                            /* STM/LDM */
        int load = (h >> 11) & 1;
        r = mk(load ? C_ldm : C_stm); r.regs_cls = load ? C_ldm_regs : C_stm_regs;
        r.regs = popcount16(h & 0xFF);
        return r;
    }
    if ((h & 0xF000) == 0xD000) {
        if ((h & 0x0E00) == 0x0E00) return mk(C_other);                      /* UDF, SVC */
        r.cls = -1; r.end = END_COND; return r;                              /* B<cond> */
    }
    if ((h & 0xF800) == 0xE000) {                                            /* B */
        if (in_it) { r.cls = -1; r.end = END_COND; return r; }
        r = mk(C_b_uncond); r.end = END_UNCOND; return r;
    }
    return r;
}

/* Coprocessor space (FP and MVE): hw1 = 111x 11xx xxxx xxxx. */
static insn_t decode_cp(uint32_t h1, uint32_t h2) {
    int fp = ((h2 >> 9) & 7) == 5;                       /* coprocessor 10/11: scalar FP */
    if ((h1 & 0x0E00) == 0x0C00 && (h1 & 0x01E0) != 0x0040) {   /* loads/stores (not 64-bit moves) */
        int load = (h1 >> 4) & 1;
        if (!fp) return mk(C_mve_mem);
        if ((h1 & 0x0120) == 0x0100) return mk(load ? C_fp_ld : C_fp_st);  /* VLDR/VSTR */
        insn_t r = mk(C_fp_ldm);                          /* VLDM/VSTM/VPUSH/VPOP */
        r.regs_cls = C_fp_ldm_regs;
        r.regs = (int)(h2 & 0xFF);                       /* words */
        return r;
    }
    if (!fp) return mk(C_mve_op);
    if ((h1 & 0xFFB1) == 0xEEA0 && (h2 & 0x0F5F) == 0x0B10) return mk(C_mve_op);   /* VDUP (a whole vector) */
    if ((h1 & 0xEF00) == 0xEE00 && !(h2 & 0x10)) {       /* VFP data processing */
        uint32_t opc1 = (h1 >> 4) & 0xB;
        if (opc1 == 0x0 || opc1 == 0xA || opc1 == 0x9) return mk(C_fp_mac);   /* VMLA/VMLS, VFMA, VFNMA */
        if (opc1 == 0x8) return mk(C_fp_div);                                 /* VDIV */
        if (opc1 == 0xB && (h1 & 0xF) == 0x1 && ((h2 >> 6) & 3) == 3) return mk(C_fp_div);  /* VSQRT */
    }
    return mk(C_fp_op);
}

static insn_t decode32(uint32_t h1, uint32_t h2, int in_it, int prev_ld) {
    insn_t r = mk(C_alu);
    uint32_t op1 = (h1 >> 11) & 3;
    if ((h1 & 0xEC00) == 0xEC00) return decode_cp(h1, h2);
    if (op1 == 1) {
        if ((h1 & 0x0640) == 0x0000) {                                       /* LDM/STM */
            int load = (h1 >> 4) & 1;
            if (load && (h2 & 0x8000)) {
                r = mk(C_b_pop_pc); r.regs_cls = C_b_pop_pc_regs; r.regs = popcount16(h2);
                r.end = in_it ? END_COND : END_UNCOND;
                return r;
            }
            r = mk(load ? C_ldm : C_stm); r.regs_cls = load ? C_ldm_regs : C_stm_regs;
            r.regs = popcount16(h2);
            return r;
        }
        if ((h1 & 0x0640) == 0x0040) {                                       /* dual, exclusive, TBB */
            int load = (h1 >> 4) & 1;
            if ((h1 & 0xFFF0) == 0xE8D0 && (h2 & 0xFFE0) == 0xF000) {
                r = mk(C_b_table); r.end = in_it ? END_COND : END_UNCOND; return r;
            }
            if (h1 & 0x0120) return mk(load ? C_ld_dual : C_st_dual);        /* LDRD/STRD */
            r = mk(load ? (prev_ld ? C_ld_pipe : C_ld) : (prev_ld ? C_st_pipe : C_st));  /* LDREX/STREX */
            r.single_ld = load;
            return r;
        }
        return r;                                                            /* data processing */
    }
    if (op1 == 2) {
        if (!(h2 & 0x8000)) return r;                                        /* data processing (imm) */
        if ((h2 & 0xD001) == 0xC001) {                                       /* low-overhead loops */
            if ((h2 & 0x2000) || (h1 & 0xF) != 0xF) { r = mk(C_loop_start); if (!(h2 & 0x2000)) r.end = END_COND; return r; }
            r.cls = -1; r.end = END_LE; return r;                            /* LE, LETP */
        }
        if ((h2 & 0x5000) == 0x5000 || (h2 & 0x5001) == 0x4000) {           /* BL, BLX */
            r = mk(C_b_call); r.end = in_it ? END_COND : END_UNCOND; r.call = 1; return r;
        }
        if ((h2 & 0x5000) == 0x1000) {                                       /* B (T4) */
            if (in_it) { r.cls = -1; r.end = END_COND; return r; }
            r = mk(C_b_uncond); r.end = END_UNCOND; return r;
        }
        if ((h1 & 0x0380) != 0x0380) { r.cls = -1; r.end = END_COND; return r; }  /* B<cond> (T3) */
        return mk(C_other);                                                  /* MSR, MRS, barriers */
    }
    /* op1 == 3 */
    if ((h1 & 0x0600) == 0x0000) {                                          /* single loads, stores */
        int load = (h1 >> 4) & 1;
        if (load) {
            if (((h2 >> 12) & 0xF) == 0xF && (h1 & 0x0060) == 0x0040) {    /* LDR pc */
                r = mk(C_b_ld_pc); r.end = in_it ? END_COND : END_UNCOND; return r;
            }
            r = mk(prev_ld ? C_ld_pipe : C_ld); r.single_ld = 1; return r;
        }
        /* STR/STRH/STRB: imm12 (h1[7] set) or imm8 with P=1,U=1,W=0 ... counted as immediate */
        if ((h1 & 0x0080) || (h2 & 0x0800)) return mk(C_st_imm);
        return mk(prev_ld ? C_st_pipe : C_st);
    }
    if ((h1 & 0x0F00) == 0x0A00) return r;                                   /* data processing (reg), SIMD */
    if ((h1 & 0x0F80) == 0x0B00) {                                           /* multiply, dual multiply */
        uint32_t op = (h1 >> 4) & 7;
        if (op == 0) {
            if ((h2 & 0x30) == 0 && ((h2 >> 12) & 0xF) == 0xF) return mk(C_mul);
            return mk(C_mla);
        }
        return mk(C_dsp_mac);
    }
    if ((h1 & 0x0F80) == 0x0B80) {                                           /* long multiply, divide */
        uint32_t op = (h1 >> 4) & 7;
        if (op == 1 || op == 3) return mk(C_div);
        if (op == 0 || op == 2) return mk(C_mul_long);
        return mk(C_mla_long);
    }
    return r;
}

static void on_exec(unsigned int vcpu, void *udata) {
    const block_t *b = udata;
    (void)vcpu;
    if (prev) {
        if (prev->end == END_COND) counts[b->pc == prev->fall ? C_b_cond_not_taken : C_b_cond_taken]++;
        else if (prev->end == END_LE) counts[b->pc == prev->fall ? C_le_not_taken : C_le_taken]++;
        if (have_mark && prev->call && b->pc == mark_addr) {
            if (n_snaps == cap_snaps) {
                cap_snaps = cap_snaps ? 2 * cap_snaps : 1024;
                snaps = realloc(snaps, cap_snaps * N_CLASSES * sizeof *snaps);
                if (!snaps) abort();
            }
            memcpy(snaps + n_snaps * N_CLASSES, counts, sizeof counts);
            n_snaps++;
        }
    }
    for (unsigned k = 0; k < b->n; k++) counts[b->cls[k]] += b->cnt[k];
    prev = b;
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    uint32_t per[N_CLASSES] = {0};
    block_t *b = calloc(1, sizeof *b);   /* lives as long as QEMU may run the block */
    if (!b) abort();
    b->pc = (uint32_t)qemu_plugin_tb_vaddr(tb);
    size_t n = qemu_plugin_tb_n_insns(tb);
    int it_left = 0, prev_ld = 0;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *in = qemu_plugin_tb_get_insn(tb, i);
        const uint8_t *d = qemu_plugin_insn_data(in);
        size_t sz = qemu_plugin_insn_size(in);
        uint32_t h1 = (uint32_t)d[0] | ((uint32_t)d[1] << 8);
        int in_it = it_left > 0;
        insn_t r;
        if (sz >= 4) {
            uint32_t h2 = (uint32_t)d[2] | ((uint32_t)d[3] << 8);
            r = decode32(h1, h2, in_it, prev_ld);
        } else {
            r = decode16(h1, in_it, prev_ld);
        }
        if (it_left) it_left--;
        if (r.cls == C_it) {             /* IT mask: instructions covered = 4 - trailing zeros */
            uint32_t mask = h1 & 0xF;
            it_left = 4 - __builtin_ctz(mask);
        }
        if (r.cls >= 0) per[r.cls]++;
        if (r.regs_cls >= 0) per[r.regs_cls] += (uint32_t)r.regs;
        prev_ld = r.single_ld;
        b->fall = (uint32_t)(qemu_plugin_insn_vaddr(in) + sz);
        b->end = (uint8_t)r.end;
        b->call = (uint8_t)r.call;
    }
    for (int c = 0; c < N_CLASSES; c++) {
        if (per[c]) { b->cls[b->n] = (uint8_t)c; b->cnt[b->n] = per[c]; b->n++; }
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_exec, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void write_row(FILE *f, const char *tag, const uint64_t *c) {
    fputs(tag, f);
    for (int k = 0; k < N_CLASSES; k++) fprintf(f, " %" PRIu64, c[k]);
    fputc('\n', f);
}

static void on_exit_cb(qemu_plugin_id_t id, void *userdata) {
    (void)id; (void)userdata;
    FILE *f = fopen(out_path, "w");
    if (!f) { fprintf(stderr, "insn_mix: cannot write %s\n", out_path); return; }
    fputs("classes", f);
    for (int k = 0; k < N_CLASSES; k++) fprintf(f, " %s", class_names[k]);
    fputc('\n', f);
    for (size_t i = 0; i < n_snaps; i++) write_row(f, "mark", snaps + i * N_CLASSES);
    write_row(f, "total", counts);
    fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    strcpy(out_path, "insn_mix.txt");
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "out=", 4)) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else if (!strncmp(argv[i], "mark=", 5)) {
            mark_addr = (uint32_t)strtoul(argv[i] + 5, NULL, 0) & ~1u;
            have_mark = 1;
        } else {
            fprintf(stderr, "insn_mix: unknown argument %s (out=PATH, mark=0xADDR)\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
