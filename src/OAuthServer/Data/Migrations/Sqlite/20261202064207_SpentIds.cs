using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OAuthServer.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class SpentIds : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "spent_ids",
                columns: table => new
                {
                    Hash = table.Column<string>(type: "TEXT", maxLength: 43, nullable: false),
                    Purpose = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    ExpiresAt = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_spent_ids", x => x.Hash);
                });

            migrationBuilder.CreateIndex(
                name: "IX_spent_ids_ExpiresAt",
                table: "spent_ids",
                column: "ExpiresAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "spent_ids");
        }
    }
}
