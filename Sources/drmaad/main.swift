// drmaad: the per-user daemon of LocalDRM's durable mode (see `drmaad --help` and Docs/Architecture.md).
import Glibc
import LocalDRM
import DRMAACore
import LocalDRMSpool

exit(DaemonProcess.main(Array(CommandLine.arguments.dropFirst())) { (directory) throws(DRMAAError) -> any DaemonStore in
    SpoolStore(spool: try Spool(directory: directory))
})
