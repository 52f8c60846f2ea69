{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='order_id') }}
select order_id, status from {{ ref('stg_orders') }}
