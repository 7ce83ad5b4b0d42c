package main

import "syscall"

// procAttr puts a child in its own process group and has the kernel kill it
// if this program dies without stopping it (a panic, SIGKILL).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
