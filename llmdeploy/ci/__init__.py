"""CI/CD pipelines for a repository of environments: GitHub Actions and GitLab CI generators.

On a pull (merge) request: validate, synthesize, checkov, then per stack `terraform validate` and
`terraform plan`, with the plans and the cost estimate shown in the request. On the default
branch: apply environment by environment, dev before staging before prod, each behind the
platform's environment protection. Clouds are reached by OIDC federation only.
"""
