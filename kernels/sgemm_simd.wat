;; fp32 matrix products for the CPU backend, in WebAssembly SIMD (128-bit lanes, f32x4).
;; Assembled into src/ops/sgemm_wasm_bytes.ts by `deno task build:wasm`; the TypeScript side
;; (src/ops/sgemm_wasm.ts) copies operands into this module's memory in the layouts below, pads them so
;; that no loop has an edge case, and copies the result out. Every pointer is a byte offset.
(module
  (memory (export "memory") 1)

  ;; C = A·B, dense. A packed in blocks of 4 rows, k-major: element (4r + q, k) at ((r·K + k)·4 + q) floats,
  ;; so one block's 4 values of a k are 16 contiguous bytes. B [K, N] row-major, C [M, N] row-major.
  ;; M is a multiple of 4, N of 8, panel of 8. Each step keeps a 4 × 8 block of C in 8 registers
  ;; over the whole k loop. Columns are walked in panels of `panel` so that the panel's K × panel
  ;; slice of B stays in cache while every row block passes over it.
  (func (export "gemm_dense")
    (param $pa i32) (param $pb i32) (param $pc i32)
    (param $m i32) (param $k i32) (param $n i32) (param $panel i32)
    (local $sb i32) (local $j0 i32) (local $jend i32) (local $i i32) (local $j i32)
    (local $ap i32) (local $bp i32) (local $cp i32) (local $kk i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $sb (i32.shl (local.get $n) (i32.const 2)))
    (loop $panels
      (local.set $jend (i32.add (local.get $j0) (local.get $panel)))
      (if (i32.gt_u (local.get $jend) (local.get $n)) (then (local.set $jend (local.get $n))))
      (local.set $i (i32.const 0))
      (loop $rows
        (local.set $j (local.get $j0))
        (loop $cols
          (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
          (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
          (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
          (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))
          ;; block i/4 starts at float i·K (4 rows × K values)
          (local.set $ap (i32.add (local.get $pa) (i32.shl (i32.mul (local.get $i) (local.get $k)) (i32.const 2))))
          (local.set $bp (i32.add (local.get $pb) (i32.shl (local.get $j) (i32.const 2))))
          (local.set $kk (local.get $k))
          (loop $inner
            (local.set $a0 (f32x4.splat (f32.load offset=0 (local.get $ap))))
            (local.set $a1 (f32x4.splat (f32.load offset=4 (local.get $ap))))
            (local.set $a2 (f32x4.splat (f32.load offset=8 (local.get $ap))))
            (local.set $a3 (f32x4.splat (f32.load offset=12 (local.get $ap))))
            (local.set $b0 (v128.load offset=0 (local.get $bp)))
            (local.set $b1 (v128.load offset=16 (local.get $bp)))
            (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a0) (local.get $b0))))
            (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $a0) (local.get $b1))))
            (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $a1) (local.get $b0))))
            (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $a1) (local.get $b1))))
            (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $a2) (local.get $b0))))
            (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $a2) (local.get $b1))))
            (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $a3) (local.get $b0))))
            (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $a3) (local.get $b1))))
            (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
            (local.set $bp (i32.add (local.get $bp) (local.get $sb)))
            (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
            (br_if $inner (local.get $kk)))
          (local.set $cp (i32.add (local.get $pc)
            (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))))
          (v128.store offset=0 (local.get $cp) (local.get $c00))
          (v128.store offset=16 (local.get $cp) (local.get $c01))
          (local.set $cp (i32.add (local.get $cp) (local.get $sb)))
          (v128.store offset=0 (local.get $cp) (local.get $c10))
          (v128.store offset=16 (local.get $cp) (local.get $c11))
          (local.set $cp (i32.add (local.get $cp) (local.get $sb)))
          (v128.store offset=0 (local.get $cp) (local.get $c20))
          (v128.store offset=16 (local.get $cp) (local.get $c21))
          (local.set $cp (i32.add (local.get $cp) (local.get $sb)))
          (v128.store offset=0 (local.get $cp) (local.get $c30))
          (v128.store offset=16 (local.get $cp) (local.get $c31))
          (local.set $j (i32.add (local.get $j) (i32.const 8)))
          (br_if $cols (i32.lt_u (local.get $j) (local.get $jend))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br_if $rows (i32.lt_u (local.get $i) (local.get $m))))
      (local.set $j0 (local.get $jend))
      (br_if $panels (i32.lt_u (local.get $j0) (local.get $n)))))

  ;; C = A·B for a mostly-zero A (ReLU activations): one row of A at a time, row-major [M, K]; each
  ;; nonzero a(i, k) adds a(i, k) · B[k, :] into C's row, so zeros cost one compare. B [K, N], C [M, N],
  ;; N a multiple of 8. C is written whole (rows start at zero).
  (func (export "gemm_sparse_a")
    (param $pa i32) (param $pb i32) (param $pc i32)
    (param $m i32) (param $k i32) (param $n i32)
    (local $sb i32) (local $i i32) (local $kk i32) (local $a f32) (local $av v128)
    (local $ap i32) (local $crow i32) (local $cend i32) (local $bp i32) (local $bq i32) (local $cp i32)
    (local.set $sb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $ap (local.get $pa))
    (local.set $crow (local.get $pc))
    (loop $rows
      (local.set $cend (i32.add (local.get $crow) (local.get $sb)))
      (memory.fill (local.get $crow) (i32.const 0) (local.get $sb))
      (local.set $bp (local.get $pb))
      (local.set $kk (local.get $k))
      (loop $ks
        (local.set $a (f32.load (local.get $ap)))
        (if (f32.ne (local.get $a) (f32.const 0))
          (then
            (local.set $av (f32x4.splat (local.get $a)))
            (local.set $cp (local.get $crow))
            (local.set $bq (local.get $bp))
            (loop $cols
              (v128.store offset=0 (local.get $cp)
                (f32x4.add (v128.load offset=0 (local.get $cp)) (f32x4.mul (local.get $av) (v128.load offset=0 (local.get $bq)))))
              (v128.store offset=16 (local.get $cp)
                (f32x4.add (v128.load offset=16 (local.get $cp)) (f32x4.mul (local.get $av) (v128.load offset=16 (local.get $bq)))))
              (local.set $cp (i32.add (local.get $cp) (i32.const 32)))
              (local.set $bq (i32.add (local.get $bq) (i32.const 32)))
              (br_if $cols (i32.lt_u (local.get $cp) (local.get $cend))))))
        (local.set $bp (i32.add (local.get $bp) (local.get $sb)))
        (local.set $ap (i32.add (local.get $ap) (i32.const 4)))
        (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
        (br_if $ks (local.get $kk)))
      (local.set $crow (local.get $cend))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $i) (local.get $m)))))
;; dst[c][r] = src[r][c] for src [rows, cols] row-major and dst rows of `stride` floats: B given as
  ;; [N, K] becomes the [K, N] the products read. In tiles of 16 × 16; the inner loop walks r so that
  ;; the writes are contiguous (the dst stride is often a multiple of 4 KiB, and 16 writes that far apart
  ;; share a cache set).
  (func (export "transpose")
    (param $src i32) (param $dst i32) (param $rows i32) (param $cols i32) (param $stride i32)
    (local $r0 i32) (local $c0 i32) (local $r i32) (local $c i32) (local $rend i32) (local $cend i32)
    (local $sp i32) (local $dp i32) (local $ss i32)
    (local.set $ss (i32.shl (local.get $cols) (i32.const 2)))
    (loop $rtiles
      (local.set $rend (i32.add (local.get $r0) (i32.const 16)))
      (if (i32.gt_u (local.get $rend) (local.get $rows)) (then (local.set $rend (local.get $rows))))
      (local.set $c0 (i32.const 0))
      (loop $ctiles
        (local.set $cend (i32.add (local.get $c0) (i32.const 16)))
        (if (i32.gt_u (local.get $cend) (local.get $cols)) (then (local.set $cend (local.get $cols))))
        (local.set $c (local.get $c0))
        (loop $cs
          (local.set $sp (i32.add (local.get $src)
            (i32.shl (i32.add (i32.mul (local.get $r0) (local.get $cols)) (local.get $c)) (i32.const 2))))
          (local.set $dp (i32.add (local.get $dst)
            (i32.shl (i32.add (i32.mul (local.get $c) (local.get $stride)) (local.get $r0)) (i32.const 2))))
          (local.set $r (local.get $r0))
          (loop $rs
            (f32.store (local.get $dp) (f32.load (local.get $sp)))
            (local.set $sp (i32.add (local.get $sp) (local.get $ss)))
            (local.set $dp (i32.add (local.get $dp) (i32.const 4)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br_if $rs (i32.lt_u (local.get $r) (local.get $rend))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br_if $cs (i32.lt_u (local.get $c) (local.get $cend))))
        (local.set $c0 (local.get $cend))
        (br_if $ctiles (i32.lt_u (local.get $c0) (local.get $cols))))
      (local.set $r0 (local.get $rend))
      (br_if $rtiles (i32.lt_u (local.get $r0) (local.get $rows)))))
)
