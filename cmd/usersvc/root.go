package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"usersvc/platform/config"
)

// Exit statuses of CONTRACT §7.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// usageError marks a mistake of the caller (flags, arguments, settings): exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// env is what commands read from outside: the process environment and streams.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run executes the command line and returns the exit status; tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(e)
	root.SetArgs(args)
	err := unknownCommand(root, args)
	if err == nil {
		err = root.ExecuteContext(ctx)
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "usersvc: "+oneLine(err))
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	return exitRuntime
}

// unknownCommand runs cobra's own command lookup first, to type its one error
// (an unknown command): cobra returns it as a plain error before any hook of ours.
func unknownCommand(root *cobra.Command, args []string) error {
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		return nil // cobra adds its shell-completion command only when it executes
	}
	root.InitDefaultHelpCmd() // as Execute does, so that "help" is a known command
	if _, _, err := root.Find(args); err != nil {
		return usageError{err}
	}
	return nil
}

// typeArgErrors makes every argument validator in the tree return a usageError.
func typeArgErrors(cmd *cobra.Command) {
	if validate := cmd.Args; validate != nil {
		cmd.Args = func(cmd *cobra.Command, args []string) error {
			if err := validate(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		typeArgErrors(sub)
	}
}

// oneLine folds a multi-line error (several problems, or a driver's list of
// addresses tried) into one line, the lines separated by "; ".
func oneLine(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}

func newRootCmd(e env) *cobra.Command {
	root := &cobra.Command{
		Use:           "usersvc",
		Short:         "The user-service: profiles, badges and learning goals of auth-service users",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	config.RegisterFlags(root.PersistentFlags())
	root.AddCommand(
		newServeCmd(e),
		newConsumeCmd(e),
		newMigrateCmd(e),
		newBackfillCmd(e),
		newGenSecretCmd(e),
		newVersionCmd(e),
	)
	typeArgErrors(root)
	return root
}

// loadConfig reads the settings a command needs; a problem is a usage error (exit 2).
func loadConfig(cmd *cobra.Command, e env, needs ...config.Requirement) (config.Config, error) {
	cfg, err := config.Load(config.Source{Flags: cmd.Flags(), Getenv: e.getenv, DotEnv: ".env"}, needs...)
	if err != nil {
		return cfg, usageError{fmt.Errorf("configuration: %w", err)}
	}
	return cfg, nil
}
