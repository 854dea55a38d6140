package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"usersvc/platform/config"
)

const maxSecretBytes = 1024

func newGenSecretCmd(e env) *cobra.Command {
	var length int
	cmd := &cobra.Command{
		Use:   "gen-secret",
		Short: "Print a random SECRET_KEY (hex of --length bytes from a cryptographic source)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if length < config.MinSecretBytes || length > maxSecretBytes {
				return usagef("--length must be between %d and %d bytes, got %d", config.MinSecretBytes, maxSecretBytes, length)
			}
			b := make([]byte, length)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			_, err := fmt.Fprintln(e.stdout, hex.EncodeToString(b))
			return err
		},
	}
	cmd.Flags().IntVar(&length, "length", 32, "number of random bytes (at least 32)")
	return cmd
}
