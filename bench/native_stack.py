# Samples where a busy thread of a stopped process is, for bench/convert_repeat.sh on the GPU machine (which
# has Python but no gdb or eu-stack): ptrace-attaches to the thread a few times, and each time prints its
# instruction pointer and the return-address candidates found on its stack, each as `library+0xoffset`
# (the offset is the file offset, which for dawn.node equals its virtual address). Symbolize here with
#   addr2line -f -C -e <path to dawn.node> 0xoffset...
#   [SAMPLE_GAP_S=0.2] python3 bench/native_stack.py PID [TID] [SAMPLES]
# The target must allow tracing (bench/convert_heartbeat.ts calls prctl(PR_SET_PTRACER, ANY) at start).
import ctypes, os, sys, time

PTRACE_ATTACH, PTRACE_DETACH, PTRACE_GETREGS = 16, 17, 12
WALL = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long

pid = int(sys.argv[1])
tid = int(sys.argv[2]) if len(sys.argv) > 2 else pid
samples = int(sys.argv[3]) if len(sys.argv) > 3 else 12

def mappings():
    out = []
    for line in open(f"/proc/{pid}/maps"):
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if "x" in parts[1]:  # executable; no file name: JIT code
            out.append((lo, hi, int(parts[2], 16), os.path.basename(parts[5]) if len(parts) >= 6 else "anon"))
    return out

def where(addr, maps):
    for lo, hi, off, name in maps:
        if lo <= addr < hi:
            return f"{name}+{addr - lo + off:#x}"
    return None

print(f"yama ptrace_scope: {open('/proc/sys/kernel/yama/ptrace_scope').read().strip() if os.path.exists('/proc/sys/kernel/yama/ptrace_scope') else 'n/a'}")
maps = mappings()
for s in range(samples):
    if libc.ptrace(PTRACE_ATTACH, tid, None, None) != 0:
        print("ptrace attach failed:", os.strerror(ctypes.get_errno()))
        sys.exit(1)
    os.waitpid(tid, WALL)
    regs = (ctypes.c_ulong * 27)()
    libc.ptrace(PTRACE_GETREGS, tid, None, ctypes.byref(regs))
    rip, rsp = regs[16], regs[19]
    frames = []
    try:
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
            mem.seek(rsp)
            stack = mem.read(32768)
        for i in range(0, len(stack) - 7, 8):
            w = where(int.from_bytes(stack[i:i + 8], "little"), maps)
            if w and (not frames or frames[-1] != w):
                frames.append(w)
    except OSError as e:
        frames.append(f"(stack unreadable: {e})")
    libc.ptrace(PTRACE_DETACH, tid, None, None)
    print(f"sample {s}: ip {where(rip, maps) or hex(rip)}")
    print("  stack: " + " ".join(frames[:48]))
    time.sleep(float(os.environ.get("SAMPLE_GAP_S", "0.2")))
