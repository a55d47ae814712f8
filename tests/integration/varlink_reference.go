// varlink_reference.go: a Varlink client the project did not write (the
// reference Go implementation, Debian's golang-github-varlink-go-dev)
// walks one of enrichd's sockets the way a generic client does: GetInfo,
// then GetInterfaceDescription for every interface listed, each parsed by
// the reference IDL parser, then one method call. Each description must
// declare the interface asked for; the reference IDL parser reads it too. Built offline by
// varlink_reference.sh. Prints one line per step; exits 1 at the first
// step that fails.
//
// usage: varlink_reference SOCKET METHOD PARAMETERS-JSON
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/varlink/go/varlink"
	"github.com/varlink/go/varlink/idl"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: varlink_reference SOCKET METHOD PARAMETERS-JSON")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := varlink.NewConnection(ctx, "unix:"+os.Args[1])
	if err != nil {
		fail("connect: %v", err)
	}
	defer conn.Close()

	var vendor, product, version, url string
	var interfaces []string
	if err := conn.GetInfo(ctx, &vendor, &product, &version, &url, &interfaces); err != nil {
		fail("GetInfo: %v", err)
	}
	fmt.Printf("info %s %s %s interfaces=%v\n", vendor, product, version, interfaces)
	for _, name := range interfaces {
		description, err := conn.GetInterfaceDescription(ctx, name)
		if err != nil {
			fail("GetInterfaceDescription(%s): %v", name, err)
		}
		// The reference parser holds interface names to the Varlink
		// grammar (lowercase), which systemd's io.systemd.UserDatabase
		// is not: what it cannot parse is checked by its text.
		declared, methods := "", 0
		for _, line := range strings.Split(description, "\n") {
			if strings.HasPrefix(line, "interface ") && declared == "" {
				declared = strings.TrimSpace(strings.TrimPrefix(line, "interface "))
			}
			if strings.HasPrefix(line, "method ") {
				methods++
			}
		}
		if declared != name {
			fail("asked for %s, described %q", name, declared)
		}
		parsed := "parsed"
		if p, err := idl.New(description); err != nil {
			parsed = "not parsed (" + err.Error() + ")"
		} else if p.Name != name || len(p.Methods) != methods {
			fail("the parser read %s with %d methods, the text says %s with %d", p.Name, len(p.Methods), name, methods)
		}
		fmt.Printf("described %s: %d methods, %s\n", name, methods, parsed)
	}

	var parameters json.RawMessage = json.RawMessage(os.Args[3])
	var out json.RawMessage
	if err := conn.Call(ctx, os.Args[2], parameters, &out); err != nil {
		if verr, ok := err.(*varlink.Error); ok {
			fmt.Printf("error %s\n", verr.Name)
			return
		}
		fail("%s: %v", os.Args[2], err)
	}
	fmt.Printf("reply %s\n", string(out))
}
