package plugins

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal has the kernel kill the plugin when mailsift dies
// without the chance to stop it (SIGKILL, OOM), so no plugin outlives its
// host.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
