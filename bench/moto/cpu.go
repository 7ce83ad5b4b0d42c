package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; it
// is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpuTime is the user+system CPU time used so far by every process in the
// server's process group, read from /proc (Linux); ok is false elsewhere.
// Threads that have exited are included (the kernel folds them into their
// process); a child process that has exited and been reaped is not.
func (s *server) cpuTime() (d time.Duration, ok bool) {
	pgid := strconv.Itoa(s.cmd.Process.Pid)
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return 0, false
	}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process went away
		}
		// The command name is in parentheses and may hold spaces.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		// f[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
		if len(f) < 13 || f[2] != pgid {
			continue
		}
		ut, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		d += time.Duration(ut+st) * clockTick
		ok = true
	}
	return d, ok
}

// cpuMeter adds up a server's CPU time over the timed parts of a workload.
type cpuMeter struct {
	s     *server
	total time.Duration
	ops   int
	ok    bool
	mark  time.Duration
}

func newCPUMeter(s *server) *cpuMeter {
	_, ok := s.cpuTime()
	return &cpuMeter{s: s, ok: ok}
}

func (m *cpuMeter) start() { m.mark, _ = m.s.cpuTime() }

func (m *cpuMeter) stop(ops int) {
	now, ok := m.s.cpuTime()
	m.ok = m.ok && ok
	m.total += now - m.mark
	m.ops += ops
}

// perOp is the server's mean CPU time per operation, in microseconds (-1
// when it could not be measured).
func (m *cpuMeter) perOp() float64 {
	if !m.ok || m.ops == 0 {
		return -1
	}
	return float64(m.total.Microseconds()) / float64(m.ops)
}
