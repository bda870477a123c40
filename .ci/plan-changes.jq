# What a Terraform plan changes, without any value: every resource change that is not a no-op,
# as {address, actions}, sorted by address. The deploy workflow hashes it in the plan job (what
# the reviewer sees) and again in the approved job, and applies only when both are equal.
[.resource_changes[]? | select(.change.actions != ["no-op"]) | {address, actions: .change.actions}]
| sort_by(.address)
