package whip_test

import "fmt"

func fmtJS(format string, args ...any) string { return fmt.Sprintf(format, args...) }
