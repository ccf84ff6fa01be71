-- Where each practice sat in the hierarchy on a date (:as_of, ISO yyyy-mm-dd).
SELECT practice_code, pcn_code, sub_icb_code, icb_code, region_code, effective_from, effective_to
FROM core_practice_membership
WHERE effective_from <= :as_of AND (effective_to IS NULL OR effective_to > :as_of)
ORDER BY practice_code;
