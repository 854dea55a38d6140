//go:build tools

// Package deps pins modules that the tree is about to use, so go mod tidy keeps them during parallel work.
package deps

import (
	_ "github.com/Masterminds/squirrel"
	_ "github.com/gofiber/fiber/v2"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/joho/godotenv"
	_ "github.com/mattn/go-isatty"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/rabbitmq/amqp091-go"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/sony/gobreaker/v2"
	_ "github.com/spf13/cobra"
	_ "go.uber.org/fx"
	_ "go.uber.org/zap"
)
