# Internal ALB in the private subnets, reached only through the API Gateway VPC link. TLS ends
# at API Gateway (the edge); inside the VPC the hop is plain HTTP between private addresses.

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Internal ALB: HTTP from the API Gateway VPC link subnets, to the API tasks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "from_vpc_link" {
  for_each = toset(var.ingress_cidr_blocks)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the API Gateway VPC link ENIs"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = var.listener_port
  to_port           = var.listener_port
}

resource "aws_vpc_security_group_egress_rule" "to_targets" {
  security_group_id = aws_security_group.alb.id
  description       = "To the container port of the API tasks inside the VPC"
  cidr_ipv4         = var.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = var.target_port
  to_port           = var.target_port
}

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_20:nothing to redirect: clients never reach this internal listener, only the VPC link does
  #checkov:skip=CKV_AWS_91:API Gateway access logs record every request at the edge; ALB access logs would need a second (SSE-S3 only) bucket for the same requests
  name                       = "${var.name}-api"
  internal                   = true
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 30
  tags                       = var.tags
}

resource "aws_lb_target_group" "api" {
  #checkov:skip=CKV_AWS_378:HTTP between the internal ALB and the tasks over private addresses; TLS ends at API Gateway
  name                 = "${var.name}-api"
  port                 = var.target_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    enabled             = true
    path                = var.health_check_path
    matcher             = "200" # /health is 200 only when a model is loaded
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:internal listener behind the API Gateway VPC link; HTTPS is served at the API Gateway edge
  #checkov:skip=CKV_AWS_103:no TLS on this internal listener (see CKV_AWS_2)
  load_balancer_arn = aws_lb.this.arn
  port              = var.listener_port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }

  tags = var.tags
}
