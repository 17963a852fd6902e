// Command hello is the image builder's test input: small enough to
// cross-compile in seconds, and it prints the platform it was built for so
// the test can run the amd64 build it gets back out of the image.
package main

import (
	"fmt"
	"runtime"
)

func main() { fmt.Printf("hello from %s/%s\n", runtime.GOOS, runtime.GOARCH) }
