/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * kvmheat userspace: the library's layers, for the files above them (commands,
 * tests, tools).  Each layer includes only those below it; no library file
 * calls into a command file.  Bottom to top:
 *
 *   base.h     errors, parsing, names, kh_counts arithmetic, growth, clocks
 *              (util.c parse.c names.c counts.c)
 *   probe.h    which hooks this kernel has, attach-method choice (probe.c);
 *   vmname.h   VM names and uuids from libvirt or QEMU's command line (vmname.c);
 *   coarse.h   aging seen only in huge ranges, summarised (coarse.c);
 *   agedrv.h   aging drivers: page_idle, MGLRU, DAMON, probed and run (agedrv.c);
 *   idle.h     idle ages per page from aging results (idle.c)
 *   vms.h      VM and memslot discovery by BPF iterator (vms.c)
 *   session.h  the main BPF object's lifecycle (session.c)
 *   maps.h     map reads, per-interval drains, histogram printers (maps.c)
 *   scan.h     active aging for live commands: a driver per VM, idle ages,
 *              their summary (scan.c)
 *   datafile.h the recording format: writer and reader (datafile.c);
 *   canvas.h   the drawing surface, PNG through cairo or SVG (canvas.c)
 *   view.h     hot ranges, heat strips and levels, per-VM rows, JSON (view.c);
 *   hmap.h     heatmap geometry and drawing (hmap.c, draw.c);
 *   chart.h    charts over a recording's epochs (chart.c)
 *   report.h   report writers: text, JSON, CSV, HTML (report.c, report_html.c);
 *   export.h   per-interval snapshots, Prometheus/OpenMetrics text (export.c)
 *   --------   commands: cli.h/cli.c (shared options, session start),
 *              cmd_<verb>.c (parse step into an args struct, then run), main.c
 *
 * Where a new thing goes: a kernel fact in probe.c; a counter in
 * include/kvmheat.h, bpf/common.bpf.h and counts.c; a way of showing counts
 * in view.c; a verb in a new cmd_<verb>.c and main.c's table.
 */
#ifndef KH_H
#define KH_H

#include "base.h"
#include "probe.h"
#include "agedrv.h"
#include "idle.h"
#include "vms.h"
#include "session.h"
#include "maps.h"
#include "scan.h"
#include "datafile.h"
#include "canvas.h"
#include "view.h"
#include "hmap.h"
#include "chart.h"
#include "report.h"
#include "export.h"

#endif /* KH_H */
