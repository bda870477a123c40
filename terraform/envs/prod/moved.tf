# The modules were called from this root until modules/stack composed them: their objects in
# state move to the stack's calls instead of being destroyed and created again. A moved block
# in the calling module may name objects inside child modules and move whole module calls
# (Terraform docs, "Refactor modules": developer.hashicorp.com/terraform/language/modules/
# develop/refactoring, "Move a resource or module" and "Split a module"; Terraform >= 1.1).
# Keep them while any state may predate modules/stack: removing a moved block is a breaking
# change for such a state (same page).

moved {
  from = module.kms
  to   = module.stack.module.kms
}

moved {
  from = module.lake
  to   = module.stack.module.lake
}

moved {
  from = module.analytics
  to   = module.stack.module.analytics
}

moved {
  from = module.predictions_table
  to   = module.stack.module.predictions_table
}

moved {
  from = module.ecr
  to   = module.stack.module.ecr
}

moved {
  from = module.iam
  to   = module.stack.module.iam
}

moved {
  from = module.network
  to   = module.stack.module.network
}

moved {
  from = module.alb
  to   = module.stack.module.alb
}

moved {
  from = module.ecs
  to   = module.stack.module.ecs
}

moved {
  from = module.apigw
  to   = module.stack.module.apigw
}

moved {
  from = module.prefect
  to   = module.stack.module.prefect
}

moved {
  from = module.monitoring
  to   = module.stack.module.monitoring
}
