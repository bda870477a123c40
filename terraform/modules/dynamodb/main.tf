# The optional predictions mirror (core/mirror.py): one item per date, partition key "date"
# (S). The lake stays the source of truth; this table is a derived copy for key lookups.

resource "aws_dynamodb_table" "predictions" {
  name                        = var.table_name
  billing_mode                = "PAY_PER_REQUEST" # a few writes a day: on demand costs cents
  hash_key                    = "date"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "date"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
